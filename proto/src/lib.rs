//! Wire definitions shared by berth's tiers. The `.proto` files and their
//! generated ttrpc code arrive with the shim and manager.
