//! Ignition config spec 3.x. (being written)
