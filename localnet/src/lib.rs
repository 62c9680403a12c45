pub use native_host;
