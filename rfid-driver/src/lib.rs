//! Everything Depot Edge knows about RFID, without I/O, clocks or allocation.
#![no_std]
#![forbid(unsafe_code)]
