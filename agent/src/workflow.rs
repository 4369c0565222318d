//! The deploy pipeline: Planfile -> source -> build -> unit tests -> release -> record.
//! (being written)
