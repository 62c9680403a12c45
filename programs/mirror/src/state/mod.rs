pub mod access_grant;
pub mod config;
pub mod mirror;
pub mod model_version;
pub mod trainer;
pub mod training_job;

pub use access_grant::*;
pub use config::*;
pub use mirror::*;
pub use model_version::*;
pub use trainer::*;
pub use training_job::*;
