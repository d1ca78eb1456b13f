//! The progress bar both dispersion tools draw on stderr, only when stderr
//! is a terminal; messages printed meanwhile go above it.

use std::cell::RefCell;
use std::io::Write;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ops::dispersion::Kind;

pub(super) struct Progress<'a> {
    enabled: bool,
    /// Verb of the bar's label: `Creating` / `Querying`.
    verb: &'static str,
    bar: RefCell<Option<(Kind, ProgressBar)>>,
    err: RefCell<&'a mut dyn Write>,
}

impl<'a> Progress<'a> {
    pub fn new(enabled: bool, verb: &'static str, err: &'a mut dyn Write) -> Self {
        Progress {
            enabled,
            verb,
            bar: RefCell::new(None),
            err: RefCell::new(err),
        }
    }

    /// Prints a line on stderr, above the bar if one is drawn.
    pub fn message(&self, line: &str) {
        let mut err = self.err.borrow_mut();
        match &*self.bar.borrow() {
            Some((_, bar)) => bar.suspend(|| {
                let _ = writeln!(err, "{line}");
            }),
            None => {
                let _ = writeln!(err, "{line}");
            }
        }
    }

    pub fn update(&self, kind: Kind, done: usize, total: usize) {
        if !self.enabled {
            return;
        }
        let mut slot = self.bar.borrow_mut();
        if slot.as_ref().is_some_and(|(k, _)| *k != kind) {
            if let Some((_, bar)) = slot.take() {
                bar.finish_and_clear();
            }
        }
        let (_, bar) = slot.get_or_insert_with(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let template = format!(
                "{} {}s {{bar:40}} {{pos}}/{{len}} ({{elapsed}}, {{eta}} left)",
                self.verb,
                kind.noun()
            );
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            (kind, bar)
        });
        bar.set_position(done as u64);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some((_, bar)) = self.bar.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }

    /// The stderr writer, for messages after the work is done.
    pub fn err(&self) -> std::cell::RefMut<'_, &'a mut dyn Write> {
        self.err.borrow_mut()
    }
}
