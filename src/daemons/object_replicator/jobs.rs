//! Which partitions this node replicates: its devices in the ring (matched
//! by replication address and the server's `bind_port`, as Swift's
//! `is_local_device`), and for each partition directory on them, the nodes
//! to sync with. A partition the device is a primary for is an update job
//! (sync with the other primaries); any other is a handoff job (push to
//! every primary, then delete).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::ring::{Device, Ring};
use crate::storage::hashpath::policy_dir;

/// One partition to replicate.
#[derive(Debug, Clone)]
pub struct Job {
    pub device: String,
    pub dev_path: PathBuf,
    pub policy: u32,
    pub partition: String,
    /// Primaries other than this device.
    pub nodes: Vec<Device>,
    /// A handoff partition: push to every primary, then remove.
    pub delete: bool,
    pub region: u32,
}

/// The addresses of this host's interfaces (Swift's `whataremyips`): just
/// `bind_ip` when it names one address.
pub fn my_ips(bind_ip: &str) -> BTreeSet<IpAddr> {
    let mut out = BTreeSet::new();
    if let Ok(ip) = bind_ip.parse::<IpAddr>() {
        if !ip.is_unspecified() {
            out.insert(ip);
            return out;
        }
    }
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we walk read-only and free once.
    unsafe {
        if libc::getifaddrs(&mut ifap) == 0 {
            let mut cur = ifap;
            while !cur.is_null() {
                let addr = (*cur).ifa_addr;
                if !addr.is_null() {
                    match i32::from((*addr).sa_family) {
                        libc::AF_INET => {
                            let sin = &*(addr as *const libc::sockaddr_in);
                            out.insert(IpAddr::from(
                                u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                            ));
                        }
                        libc::AF_INET6 => {
                            let sin6 = &*(addr as *const libc::sockaddr_in6);
                            out.insert(IpAddr::from(sin6.sin6_addr.s6_addr));
                        }
                        _ => {}
                    }
                }
                cur = (*cur).ifa_next;
            }
            libc::freeifaddrs(ifap);
        }
    }
    out
}

/// Whether a ring device is served by this process.
pub fn is_local(ips: &BTreeSet<IpAddr>, port: u16, dev: &Device) -> bool {
    dev.replication_port == port
        && dev
            .replication_ip
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ips.contains(&ip))
}

/// What limits a pass (`-d`, `-p`, `-i`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub devices: Option<Vec<String>>,
    pub partitions: Option<Vec<u32>>,
    pub policies: Option<Vec<u32>>,
}

impl Overrides {
    pub fn any(&self) -> bool {
        self.devices.is_some() || self.partitions.is_some() || self.policies.is_some()
    }
}

/// The jobs for one policy's ring, and the local devices that could not be used.
pub fn build_jobs(
    ring: &Ring,
    policy: u32,
    devices_dir: &std::path::Path,
    mount_check: bool,
    ips: &BTreeSet<IpAddr>,
    port: u16,
    only: &Overrides,
) -> (Vec<Job>, Vec<String>, bool) {
    let mut jobs = Vec::new();
    let mut unusable = Vec::new();
    let mut found_local = false;
    for dev in ring.devices().iter().flatten() {
        if !is_local(ips, port, dev) {
            continue;
        }
        if only
            .devices
            .as_ref()
            .is_some_and(|d| !d.contains(&dev.device))
        {
            continue;
        }
        found_local = true;
        let dev_path = devices_dir.join(&dev.device);
        let usable = if mount_check {
            crate::storage::device::is_mount(&dev_path)
        } else {
            dev_path.is_dir()
        };
        if !usable {
            tracing::warn!("{} is not mounted", dev_path.display());
            unusable.push(dev.device.clone());
            continue;
        }
        let obj_path = dev_path.join(policy_dir("objects", policy));
        let Ok(rd) = std::fs::read_dir(&obj_path) else {
            let _ = std::fs::create_dir_all(&obj_path);
            continue;
        };
        for entry in rd.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(part) = name.parse::<u32>() else {
                continue;
            };
            if only.partitions.as_ref().is_some_and(|p| !p.contains(&part)) {
                continue;
            }
            if part as usize >= ring.partition_count() {
                continue;
            }
            let primaries: Vec<Device> = ring
                .get_part_nodes(part)
                .into_iter()
                .map(|n| n.device.clone())
                .collect();
            let nodes: Vec<Device> = primaries
                .iter()
                .filter(|d| d.id != dev.id)
                .cloned()
                .collect();
            jobs.push(Job {
                device: dev.device.clone(),
                dev_path: dev_path.clone(),
                policy,
                partition: name,
                delete: nodes.len() == primaries.len(),
                nodes,
                region: dev.region,
            });
        }
    }
    (jobs, unusable, found_local)
}
