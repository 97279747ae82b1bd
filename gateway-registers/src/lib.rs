//! The gateway's Modbus register map, shared by firmware and server.
#![no_std]
#![forbid(unsafe_code)]
