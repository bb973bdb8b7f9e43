//! The contract check on synthetic requests shaped like those the functions and the browser send.

use super::*;

const MIB: u64 = 1024 * 1024;
const DIGEST: &str = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";
const KEY: &str = "/documents/users/alice/0193";

fn create(upload: &str, algorithm: Option<&str>) -> RecordedRequest {
    let mut headers = vec![("content-type".to_owned(), "text/plain".to_owned())];
    if let Some(algorithm) = algorithm {
        headers.push(("x-amz-checksum-algorithm".to_owned(), algorithm.to_owned()));
        headers.push(("x-amz-checksum-type".to_owned(), "COMPOSITE".to_owned()));
    }
    RecordedRequest {
        operation: "S3.CreateMultipartUpload".into(),
        method: "POST".into(),
        path: KEY.into(),
        query: "uploads".into(),
        headers,
        status: Some(200),
        answer_text: format!(
            "<InitiateMultipartUploadResult><UploadId>{upload}</UploadId></InitiateMultipartUploadResult>"
        ),
        ..RecordedRequest::default()
    }
}

/// A presigned UploadPart as the browser sends it, with the headers the URL signed.
fn part(upload: &str, number: u64, size: u64, checksum: bool) -> RecordedRequest {
    let mut headers = vec![("content-length".to_owned(), size.to_string())];
    let mut signed = "content-length%3Bhost".to_owned();
    if checksum {
        headers.push(("x-amz-checksum-sha256".to_owned(), DIGEST.to_owned()));
        signed.push_str("%3Bx-amz-checksum-sha256");
    }
    RecordedRequest {
        operation: "S3.UploadPart".into(),
        method: "PUT".into(),
        path: KEY.into(),
        query: format!(
            "x-id=UploadPart&partNumber={number}&uploadId={}&X-Amz-Credential=AKIA%2F&X-Amz-SignedHeaders={signed}\
             &X-Amz-Signature=abc",
            upload.replace('=', "%3D")
        ),
        headers,
        body_length: size,
        status: Some(200),
        ..RecordedRequest::default()
    }
}

fn complete(upload: &str, parts: &[(u64, bool)]) -> RecordedRequest {
    let listed: String = parts
        .iter()
        .map(|(number, checksum)| {
            let checksum = if *checksum { format!("<ChecksumSHA256>{DIGEST}</ChecksumSHA256>") } else { String::new() };
            format!("<Part>{checksum}<ETag>\"e{number}\"</ETag><PartNumber>{number}</PartNumber></Part>")
        })
        .collect();
    RecordedRequest {
        operation: "S3.CompleteMultipartUpload".into(),
        method: "POST".into(),
        path: KEY.into(),
        query: format!("uploadId={upload}"),
        body_text: format!("<CompleteMultipartUpload>{listed}</CompleteMultipartUpload>"),
        status: Some(200),
        ..RecordedRequest::default()
    }
}

fn rules(violations: &[Violation]) -> Vec<&'static str> {
    violations.iter().map(|v| v.rule.id).collect()
}

#[test]
fn the_old_browser_upload_breaks_the_checksum_rules() {
    // What the code sent before: no algorithm at creation, a SHA-256 signed into every part,
    // completion without part checksums.
    let old = [
        create("u1", None),
        part("u1", 1, 8 * MIB, true),
        part("u1", 2, 8 * MIB, true),
        part("u1", 3, 1000, true),
        complete("u1", &[(1, false), (2, false), (3, false)]),
    ];
    let found = check(&old);
    assert_eq!(rules(&found), ["checksum-declared-at-create"; 3], "{found:#?}");
    assert!(found[0].detail.contains("part 1 carries SHA256; created with no algorithm"), "{}", found[0]);
    assert!(found[0].request.starts_with("S3.UploadPart PUT /documents/users/alice/0193?"), "{}", found[0].request);
    assert!(!found[0].request.contains("abc") && !found[0].request.contains("AKIA"), "no signature or key");
    assert!(found[0].to_string().contains(found[0].rule.source));
}

#[test]
fn the_new_browser_upload_keeps_every_rule() {
    let new = [
        create("u1=", Some("SHA256")),
        part("u1=", 1, 8 * MIB, true),
        part("u1=", 2, 8 * MIB, true),
        part("u1=", 3, 1000, true),
        complete("u1=", &[(1, true), (2, true), (3, true)]),
    ];
    assert_eq!(check(&new), [], "the upload id is matched percent-decoded");
    let plain = [create("u2", None), part("u2", 1, 8 * MIB, false), complete("u2", &[(1, false)])];
    assert_eq!(check(&plain), [], "an upload without checksums is fine too");
}

#[test]
fn an_upload_with_an_algorithm_needs_every_part_s_checksum_and_lists_them_at_completion() {
    let requests = [
        create("u1", Some("SHA256")),
        part("u1", 1, 8 * MIB, false),
        part("u1", 2, 10, true),
        complete("u1", &[(1, true), (2, false)]),
    ];
    let found = check(&requests);
    assert_eq!(rules(&found), ["checksum-on-every-part", "completion-lists-checksums"], "{found:#?}");
    let listed_without = [create("u2", None), part("u2", 1, 10, false), complete("u2", &[(1, true)])];
    assert_eq!(rules(&check(&listed_without)), ["completion-lists-checksums"]);
}

#[test]
fn parts_below_5_mib_but_the_last_and_above_5_gib_break_the_size_rule() {
    let requests = [
        create("u1", None),
        part("u1", 1, 5 * MIB - 1, false),
        part("u1", 2, 5 * MIB + 1, false),
        part("u1", 3, 1, false),
        part("u1", 4, 5 * 1024 * MIB + 1, false),
        complete("u1", &[(1, false), (2, false), (3, false)]),
    ];
    let found = check(&requests);
    assert_eq!(rules(&found), ["part-size", "part-size"], "{found:#?}");
    assert!(found[0].detail.contains("part 4 of 5368709121 bytes"), "{}", found[0]);
    assert!(found[1].detail.contains("part 1 of 5242879 bytes is not the last"), "{}", found[1]);
}

#[test]
fn part_numbers_beyond_10000_and_puts_beyond_5_gib_are_named() {
    let put = RecordedRequest {
        operation: "S3.PUT".into(),
        method: "PUT".into(),
        path: KEY.into(),
        body_length: 5 * 1024 * MIB + 1,
        ..RecordedRequest::default()
    };
    let requests = [create("u1", None), part("u1", 10_001, 10, false), part("u1", 0, 10, false), put];
    assert_eq!(rules(&check(&requests)), ["part-count", "part-count", "single-put-size"]);
}

#[test]
fn a_presigned_request_must_sign_host_and_every_x_amz_header_it_sends() {
    let mut unsigned = part("u1", 1, 10, false);
    unsigned.headers.push(("x-amz-checksum-sha256".into(), DIGEST.into()));
    let found = check(&[unsigned.clone()]);
    assert_eq!(rules(&found), ["presigned-signs-headers"], "{found:#?}");
    assert!(found[0].detail.contains("x-amz-checksum-sha256 is sent but not signed"));
    unsigned.query = unsigned.query.replace("%3Bhost", "");
    assert_eq!(rules(&check(&[unsigned])).len(), 2, "host too");
    // Requests signed in the Authorization header are not presigned: not this rule's business.
    let mut header_signed = part("u1", 1, 10, false);
    header_signed.query = "partNumber=1&uploadId=u1".into();
    header_signed.headers.push(("x-amz-content-sha256".into(), "UNSIGNED-PAYLOAD".into()));
    assert_eq!(check(&[header_signed]), []);
}

#[test]
fn every_rule_names_a_source_in_aws_s_documentation() {
    for rule in RULES {
        assert!(rule.source.starts_with("https://docs.aws.amazon.com/AmazonS3/"), "{rule:?}");
    }
}

#[test]
fn a_signer_with_a_session_token_must_send_it_on_every_request() {
    let mut presigned = part("u1", 1, 10, false);
    assert_eq!(rules(&check_session_token(&[presigned.clone()])), ["session-token-signed"]);
    presigned.query.push_str("&X-Amz-Security-Token=IQoJb3JpZ2luX2Vj");
    assert_eq!(check_session_token(&[presigned]), []);
    let mut header_signed = create("u1", None);
    let authorization = "AWS4-HMAC-SHA256 Credential=ASIA/20260101/us-east-1/s3/aws4_request, \
                         SignedHeaders=host;x-amz-date, Signature=ab";
    header_signed.headers.push(("authorization".into(), authorization.into()));
    assert_eq!(rules(&check_session_token(&[header_signed.clone()])), ["session-token-signed"]);
    header_signed.headers.retain(|(name, _)| name != "authorization");
    header_signed
        .headers
        .push(("authorization".into(), authorization.replace("x-amz-date,", "x-amz-date;x-amz-security-token,")));
    assert_eq!(check_session_token(&[header_signed]), []);
}
