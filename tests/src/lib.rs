//! Support shared by the end-to-end suites. (being written)
