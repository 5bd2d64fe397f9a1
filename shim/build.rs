//! Lays out the shim's code so an idle shim maps little of it: the
//! functions an idle shim has run come first (then the rest of a
//! container's lifecycle: exec, stop, delete, a tty), as `link-order.txt`
//! lists them; see the berth-link-order crate for why and
//! `link-order/link-order.sh` for how the list is made.

fn main() {
    berth_link_order::order_binary("containerd-shim-berth-v2", "link-order.txt");
}
