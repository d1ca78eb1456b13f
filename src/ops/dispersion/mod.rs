//! swift-dispersion-populate and swift-dispersion-report: sample names
//! spread over the partition space (`plan`), created through the proxy
//! (`proxy`, `populate`), then every copy of every sampled partition asked
//! for directly on the storage nodes (`direct`, `report`), and the results
//! in Swift's words and JSON (`render`).

pub mod conf;
pub mod direct;
pub mod plan;
pub mod populate;
pub mod proxy;
pub mod render;
pub mod report;
pub mod setup;

pub use conf::{DispersionConf, DEFAULT_CONF};
pub use report::{Events, Kind, SectionReport};
