//! Lays out the manager's code so an idle manager maps little of it: what
//! a manager runs to start, recover, load an image, run a container and
//! list comes first (then the rest of its everyday work), as
//! `link-order.txt` lists them; see the berth-link-order crate for why and
//! `shim/link-order/link-order.sh` for how the list is made.

fn main() {
    berth_link_order::order_binary("berth-manager", "link-order.txt");
}
