//! Swift's quorum rules for replicated writes: how many replicas make a
//! quorum, when the answers so far decide a write, and which answer the
//! client sees. Pure: statuses in, decisions out.

use axum::http::StatusCode;

/// Swift's quorum of `n` replicas: half of them, rounded up (2 of 3, 2 of
/// 4, 1 of 2).
pub fn quorum(n: usize) -> usize {
    n.div_ceil(2)
}

/// Whether the answers so far decide a write of `node_count` replicas: a
/// quorum of them in one class of 1xx, 2xx, 3xx or 4xx. Server errors never
/// decide early: a later answer may still make a quorum of successes.
pub fn have_quorum(statuses: &[StatusCode], node_count: usize) -> bool {
    let q = quorum(node_count);
    statuses.len() >= q
        && (1..=4u16).any(|class| {
            statuses
                .iter()
                .filter(|s| s.as_u16() / 100 == class)
                .count()
                >= q
        })
}

/// Which answer the client sees: in the first class of 2xx, 3xx and 4xx
/// holding a quorum of all `statuses`, the highest status (its first
/// occurrence). `overrides` (e.g. 404 read as 204 for an object DELETE)
/// apply only when no class has a quorum as they are: the rewritten
/// answers then count toward a quorum but are never the one shown, so the
/// status shown is always one a node gave. None: no quorum, a 503.
pub fn best_answer(statuses: &[StatusCode], overrides: &[(u16, u16)]) -> Option<usize> {
    best_answer_of(statuses, overrides, quorum(statuses.len()))
}

/// [`best_answer`] with a quorum of `q` answers (Swift's `quorum_size`),
/// for answers from more nodes than there are replicas.
pub fn best_answer_of(
    statuses: &[StatusCode],
    overrides: &[(u16, u16)],
    q: usize,
) -> Option<usize> {
    let pick = |codes: &[u16], avoid: &[bool]| -> Option<usize> {
        for class in [2u16, 3, 4] {
            let in_class = || {
                codes
                    .iter()
                    .enumerate()
                    .filter(move |(_, c)| **c / 100 == class)
            };
            if !statuses.is_empty() && in_class().count() >= q {
                // The first of the highest, as Python's max() picks it.
                let best = in_class().filter(|(i, _)| !avoid[*i]).fold(
                    None,
                    |best: Option<(usize, u16)>, (i, c)| match best {
                        Some((_, b)) if b >= *c => best,
                        _ => Some((i, *c)),
                    },
                );
                if let Some((i, _)) = best {
                    return Some(i);
                }
            }
        }
        None
    };
    let codes: Vec<u16> = statuses.iter().map(|s| s.as_u16()).collect();
    if let Some(i) = pick(&codes, &vec![false; codes.len()]) {
        return Some(i);
    }
    if overrides.is_empty() {
        return None;
    }
    let rewritten: Vec<(u16, bool)> = codes
        .iter()
        .map(|c| match overrides.iter().find(|(from, _)| from == c) {
            Some((_, to)) => (*to, true),
            None => (*c, false),
        })
        .collect();
    let (codes, avoid): (Vec<u16>, Vec<bool>) = rewritten.into_iter().unzip();
    pick(&codes, &avoid)
}

/// Swift's object POST when the primaries disagree: the number of handoffs
/// to POST to as well, one per primary's 404, when some primaries found
/// the object (202) but fewer than a quorum of the `replicas`. (Primaries
/// that failed were already replaced by handoffs.)
pub fn post_handoffs(primaries: &[StatusCode], replicas: usize) -> usize {
    let count = |code: StatusCode| primaries.iter().filter(|s| **s == code).count();
    let found = count(StatusCode::ACCEPTED);
    if found > 0 && found < quorum(replicas) {
        count(StatusCode::NOT_FOUND)
    } else {
        0
    }
}

/// The answer to an object POST from all its answers (the primaries',
/// then any handoffs' of [`post_handoffs`]): the best answer by a quorum
/// of the `replicas`, except that a 404 when some primary found the object
/// cannot be right and is a 503 (None), as in Swift.
pub fn post_answer(answers: &[StatusCode], primaries: usize, replicas: usize) -> Option<usize> {
    let found = answers[..primaries.min(answers.len())].contains(&StatusCode::ACCEPTED);
    let q = if answers.len() > primaries {
        quorum(replicas)
    } else {
        quorum(answers.len())
    };
    best_answer_of(answers, &[], q).filter(|&i| !(found && answers[i] == StatusCode::NOT_FOUND))
}

/// The status a client sees for a set of replica answers (see
/// [`best_answer`]); 503 without a quorum.
pub fn best_status(statuses: &[StatusCode]) -> StatusCode {
    best_answer(statuses, &[]).map_or(StatusCode::SERVICE_UNAVAILABLE, |i| statuses[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(v: &[u16]) -> Vec<StatusCode> {
        v.iter()
            .map(|&c| StatusCode::from_u16(c).unwrap())
            .collect()
    }

    #[test]
    fn quorum_is_half_rounded_up() {
        let q: Vec<usize> = (1..=6).map(quorum).collect();
        assert_eq!(q, [1, 1, 2, 2, 3, 3]);
    }

    #[test]
    fn server_errors_never_decide_early() {
        assert!(have_quorum(&codes(&[201, 201]), 3));
        assert!(have_quorum(&codes(&[404, 409]), 3));
        assert!(!have_quorum(&codes(&[201, 404]), 3));
        assert!(!have_quorum(&codes(&[503, 503]), 3));
        assert!(!have_quorum(&codes(&[201]), 3));
    }

    #[test]
    fn the_highest_status_of_the_quorum_class_wins() {
        assert_eq!(best_status(&codes(&[201, 201, 503])), StatusCode::CREATED);
        assert_eq!(
            best_status(&codes(&[204, 201, 201])),
            StatusCode::NO_CONTENT
        );
        assert_eq!(best_status(&codes(&[404, 409, 204])), StatusCode::CONFLICT);
        assert_eq!(
            best_status(&codes(&[503, 503, 503])),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(best_answer(&codes(&[201, 404, 503]), &[]), None);
    }

    #[test]
    fn overrides_count_but_are_never_shown() {
        let s = codes(&[404, 503, 204]);
        assert_eq!(best_answer(&s, &[]), None);
        assert_eq!(best_answer(&s, &[(404, 204)]), Some(2));
        assert_eq!(best_answer(&codes(&[404, 503, 503]), &[(404, 204)]), None);
        // A quorum as they are: the overrides play no part.
        assert_eq!(
            best_answer(&codes(&[404, 404, 204]), &[(404, 204)]),
            Some(0)
        );
    }
}
