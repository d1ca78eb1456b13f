//! Swift 2.38.3's own functional test suite (`test/functional` from its
//! source release, run by `scripts/swift-functests`) against a fresh
//! all-in-one cluster: our proxy, our storage servers, tempauth users.
//!
//! The run must pass at least `PASS_FLOOR` tests and fail none but those
//! listed in `KNOWN_FAILURES`, each with its reason. It takes about ten
//! minutes, so it runs on request:
//! `cargo test --release --test swift_functests -- --ignored`.

mod aio_util;

use std::process::Command;

use aio_util::Aio;

/// Swift's own proxy in front of Swift's storage servers passes 309 of
/// these tests on ext4 (failing 4 that need large xattrs); ours passed 255
/// (with the metadata tests below still selected).
const PASS_FLOOR: usize = 250;

/// Deselected: ten metadata items of long UTF-8 names and values overflow
/// ext4's per-inode xattr space, so the object servers answer 507 (Swift's
/// own cluster does the same on ext4) and the proxy then rests those
/// devices, failing the tests that follow with 503.
const DESELECTED: &[&str] = &[
    "tests.py::TestFile::testMetadataNumberLimit",
    "tests.py::TestFile::testMetadataOnPost",
    "tests.py::TestFile::testMetadataOnPut",
    "tests.py::TestFileUTF8::testMetadataNumberLimit",
    "tests.py::TestFileUTF8::testMetadataOnPost",
    "tests.py::TestFileUTF8::testMetadataOnPut",
];

/// Tests that may fail, each with the reason; any other failure fails this
/// test. Entries marked "unconfirmed" are expected to pass already. Fixing
/// one means deleting its line.
const KNOWN_FAILURES: &[(&str, &str)] = &[
    // Seen failing with 503 once, after nodes were rested for aborted
    // uploads (no longer counted against a node; unconfirmed).
    ("tests.py::TestFile::testGetContentType", "rested nodes"),
    ("tests.py::TestFile::testGetResponseHeaders", "rested nodes"),
    ("tests.py::TestFile::testHead", "rested nodes"),
    (
        "tests.py::TestFileUTF8::testGetResponseHeaders",
        "rested nodes",
    ),
    (
        "test_account.py::TestAccount::test_invalid_acls",
        "account ACL validation on POST",
    ),
    (
        "test_container.py::TestContainer::test_create_container_gets_default_policy_by_default",
        "container policy headers",
    ),
    (
        "test_dlo.py::TestDlo::test_dlo_if_match_get",
        "DLO ranges, conditions, POST (fixed, unconfirmed)",
    ),
    (
        "test_dlo.py::TestDlo::test_dlo_if_match_head",
        "DLO ranges, conditions, POST (fixed, unconfirmed)",
    ),
    (
        "test_dlo.py::TestDlo::test_dlo_post_without_manifest_header",
        "DLO ranges, conditions, POST (fixed, unconfirmed)",
    ),
    (
        "test_dlo.py::TestDlo::test_dlo_referer_on_segment_container",
        "DLO segment container read by referrer ACL",
    ),
    (
        "test_dlo.py::TestDlo::test_get_range",
        "DLO ranges, conditions, POST (fixed, unconfirmed)",
    ),
    (
        "test_dlo.py::TestDlo::test_get_range_out_of_range",
        "DLO ranges, conditions, POST (fixed, unconfirmed)",
    ),
    (
        "test_dlo.py::TestDloUTF8::test_dlo_if_match_get",
        "DLO ranges, conditions, POST (fixed, unconfirmed)",
    ),
    (
        "test_dlo.py::TestDloUTF8::test_dlo_if_match_head",
        "DLO ranges, conditions, POST (fixed, unconfirmed)",
    ),
    (
        "test_dlo.py::TestDloUTF8::test_dlo_post_without_manifest_header",
        "DLO ranges, conditions, POST (fixed, unconfirmed)",
    ),
    (
        "test_dlo.py::TestDloUTF8::test_dlo_referer_on_segment_container",
        "DLO segment container read by referrer ACL",
    ),
    (
        "test_dlo.py::TestDloUTF8::test_get_range",
        "DLO ranges, conditions, POST (fixed, unconfirmed)",
    ),
    (
        "test_dlo.py::TestDloUTF8::test_get_range_out_of_range",
        "DLO ranges, conditions, POST (fixed, unconfirmed)",
    ),
    (
        "test_object.py::TestObject::test_allow_open_expired_disabled",
        "POST to an expired object should be 404",
    ),
    (
        "test_object.py::TestObject::test_copy_between_accounts",
        "copy across accounts: ACL check gives 404/201 where Swift gives 403",
    ),
    (
        "test_object.py::TestObject::test_copy_object",
        "COPY with Range",
    ),
    (
        "test_object.py::TestObject::test_cors",
        "CORS preflight without a container ACL: 401",
    ),
    (
        "test_object.py::TestObject::test_delete_content_type",
        "DELETE answers and X-Delete-At limits (fixed, unconfirmed)",
    ),
    (
        "test_object.py::TestObject::test_delete_if_delete_at_bad",
        "DELETE answers and X-Delete-At limits (fixed, unconfirmed)",
    ),
    (
        "test_object.py::TestObject::test_manifest",
        "DLO manifest read with a Range (fixed, unconfirmed)",
    ),
    (
        "test_object.py::TestObject::test_metadata",
        "header case (fixed by Title-Case, unconfirmed)",
    ),
    (
        "test_object.py::TestObject::test_x_delete_at_in_the_far_future",
        "DELETE answers and X-Delete-At limits (fixed, unconfirmed)",
    ),
    (
        "tests.py::TestAccount::testInvalidUTF8Path",
        "raw invalid UTF-8 request line: HTTP parser answers 400, Swift 412",
    ),
    (
        "tests.py::TestAccountUTF8::testInvalidUTF8Path",
        "raw invalid UTF-8 request line: HTTP parser answers 400, Swift 412",
    ),
    (
        "tests.py::TestContainer::testUtf8Container",
        "raw invalid UTF-8 request line: HTTP parser answers 400, Swift 412",
    ),
    (
        "tests.py::TestContainerUTF8::testUtf8Container",
        "raw invalid UTF-8 request line: HTTP parser answers 400, Swift 412",
    ),
    (
        "tests.py::TestFile::testContentTypeGuessing",
        "content-type guessing (fixed, unconfirmed)",
    ),
    (
        "tests.py::TestFile::testCopyAccount404s",
        "copy across accounts: ACL check gives 404/201 where Swift gives 403",
    ),
    (
        "tests.py::TestFile::testCopyFromAccountHeader403s",
        "copy across accounts: ACL check gives 404/201 where Swift gives 403",
    ),
    (
        "tests.py::TestFile::testCopyFromAccountHeader404s",
        "copy across accounts: ACL check gives 404/201 where Swift gives 403",
    ),
    (
        "tests.py::TestFile::testCopyRange",
        "copy with Range (fixed, unconfirmed)",
    ),
    (
        "tests.py::TestFile::testRangedGets",
        "ranged GET answers (ETag on 206, LWS in Range)",
    ),
    (
        "tests.py::TestFile::testRangedGetsWithLWSinHeader",
        "ranged GET answers (ETag on 206, LWS in Range)",
    ),
    (
        "tests.py::TestFile::test_POST",
        "POST Content-Type in the listing (fixed, unconfirmed)",
    ),
    (
        "tests.py::TestFileComparison::testIfMatchAndUnmodified",
        "object server If-Unmodified-Since",
    ),
    (
        "tests.py::TestFileComparison::testIfUnmodifiedSince",
        "object server If-Unmodified-Since",
    ),
    (
        "tests.py::TestFileComparisonUTF8::testIfMatchAndUnmodified",
        "object server If-Unmodified-Since",
    ),
    (
        "tests.py::TestFileComparisonUTF8::testIfUnmodifiedSince",
        "object server If-Unmodified-Since",
    ),
    (
        "tests.py::TestFileComparisonUTF8::testLastModified",
        "UTF-8 object names with metadata: 400 on PUT",
    ),
    (
        "tests.py::TestFileUTF8::testContentTypeGuessing",
        "content-type guessing (fixed, unconfirmed)",
    ),
    (
        "tests.py::TestFileUTF8::testCopyAccount404s",
        "copy across accounts: ACL check gives 404/201 where Swift gives 403",
    ),
    (
        "tests.py::TestFileUTF8::testCopyFromAccountHeader403s",
        "copy across accounts: ACL check gives 404/201 where Swift gives 403",
    ),
    (
        "tests.py::TestFileUTF8::testCopyFromAccountHeader404s",
        "copy across accounts: ACL check gives 404/201 where Swift gives 403",
    ),
    (
        "tests.py::TestFileUTF8::testCopyRange",
        "copy with Range (fixed, unconfirmed)",
    ),
    (
        "tests.py::TestFileUTF8::testGetContentType",
        "UTF-8 object names with metadata: 400 on PUT",
    ),
    (
        "tests.py::TestFileUTF8::testHead",
        "UTF-8 object names with metadata: 400 on PUT",
    ),
    (
        "tests.py::TestFileUTF8::testRangedGets",
        "ranged GET answers (ETag on 206, LWS in Range)",
    ),
    (
        "tests.py::TestFileUTF8::testRangedGetsWithLWSinHeader",
        "ranged GET answers (ETag on 206, LWS in Range)",
    ),
    (
        "tests.py::TestFileUTF8::testSerialization",
        "UTF-8 object names with metadata: 400 on PUT",
    ),
    (
        "tests.py::TestFileUTF8::test_POST",
        "POST Content-Type in the listing (fixed, unconfirmed)",
    ),
];

/// Counts from pytest's closing line (`3 failed, 300 passed, 40 skipped in 500s`).
fn summary(out: &str) -> Option<std::collections::BTreeMap<String, usize>> {
    let line = out
        .lines()
        .rev()
        .find(|l| l.contains(" passed") || l.contains(" failed"))?;
    let words: Vec<&str> = line
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut counts = std::collections::BTreeMap::new();
    for w in words.windows(2) {
        if let Ok(n) = w[0].parse::<usize>() {
            let kind = w[1].trim_end_matches('s').to_string();
            counts.insert(kind, n);
        }
    }
    Some(counts)
}

/// The node ids of pytest's `FAILED`/`ERROR` short-summary lines, without
/// the `test/functional/` prefix.
fn failures(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            l.strip_prefix("FAILED ")
                .or_else(|| l.strip_prefix("ERROR "))
        })
        .map(|l| l.split(" - ").next().unwrap_or(l).trim())
        .map(|id| id.trim_start_matches("test/functional/").to_string())
        .collect()
}

#[test]
#[ignore = "about 10 minutes, and the known-failure list is still long; run with --ignored"]
fn swift_functional_suite_passes_against_the_all_in_one_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = Aio::run(&tmp.path().join("aio"));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/swift-functests");
    let mut cmd = Command::new(script);
    cmd.arg(aio.auth_url()).arg("-rfE");
    for t in DESELECTED {
        cmd.arg("--deselect").arg(format!("test/functional/{t}"));
    }
    let out = cmd.output().expect("run scripts/swift-functests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let counts = summary(&stdout)
        .unwrap_or_else(|| panic!("no pytest summary:\n{stdout}\n{stderr}\n{}", aio.logs()));
    let get = |k: &str| counts.get(k).copied().unwrap_or(0);
    let failed = failures(&stdout);
    assert_eq!(
        failed.len(),
        get("failed") + get("error"),
        "every failure is listed by id:\n{stdout}"
    );
    let unexpected: Vec<&String> = failed
        .iter()
        .filter(|f| !KNOWN_FAILURES.iter().any(|(k, _)| k == f))
        .collect();
    assert!(
        unexpected.is_empty(),
        "functional tests failed: {unexpected:#?}\n{stdout}\n{}",
        aio.logs()
    );
    assert!(
        get("passed") >= PASS_FLOOR,
        "only {} passed (floor {PASS_FLOOR}); failed: {failed:#?}",
        get("passed")
    );
    assert_eq!(get("deselected"), DESELECTED.len(), "{stdout}");
    eprintln!(
        "Swift functional suite: {} passed, {} failed (all listed), {} skipped",
        get("passed"),
        failed.len(),
        get("skipped")
    );
}

#[test]
fn pytest_summary_is_parsed() {
    let c = summary(
        "x\n==== 2 failed, 301 passed, 40 skipped, 6 deselected in 500.1s (0:08:20) ====\n",
    )
    .unwrap();
    assert_eq!(c["failed"], 2);
    assert_eq!(c["passed"], 301);
    assert_eq!(c["skipped"], 40);
    assert_eq!(c["deselected"], 6);
    let c = summary("== 1 error, 3 passed in 2s ==").unwrap();
    assert_eq!(c["error"], 1);
    let f = failures(
        "FAILED test/functional/tests.py::TestFile::testCopyRange - AssertionError: 101 != 1024\n\
         ERROR test/functional/test_dlo.py::TestDlo::test_copy\nPASSED x\n",
    );
    assert_eq!(
        f,
        [
            "tests.py::TestFile::testCopyRange",
            "test_dlo.py::TestDlo::test_copy"
        ]
    );
}
