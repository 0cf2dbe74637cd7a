//! What a `notify` event means to the ignore rules: which of its paths
//! changed in a way that counts, and which ignore files must be read again.

use std::path::{Path, PathBuf};

use notify::event::{CreateKind, ModifyKind, RemoveKind};
use notify::EventKind;

use super::rules::{is_ignore_file, Kind, Rules};

/// The paths of `event` whose change counts, in the event's order. When
/// events were lost, the first `-w` path stands for whatever changed. The
/// rules forget the ignore files the event touched, and whatever was at a
/// path moved or removed, so that they read them afresh. `was_dir` tells
/// whether a path moved away was a watched directory, which the event
/// does not say.
pub(super) fn changed_paths(
    event: &notify::Event,
    rules: &mut Rules,
    was_dir: &dyn Fn(&Path) -> bool,
) -> Vec<PathBuf> {
    if event.need_rescan() {
        // Assume the worst.
        return rules
            .roots()
            .first()
            .map(|root| root.path().to_owned())
            .into_iter()
            .collect();
    }
    // Opening or reading a file changes nothing.
    if matches!(event.kind, EventKind::Access(_) | EventKind::Other) {
        return Vec::new();
    }
    let moved_or_removed = matches!(
        event.kind,
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
    );
    for path in &event.paths {
        if moved_or_removed || is_ignore_file(path) {
            rules.forget(path);
        }
    }
    let kind = match event.kind {
        EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder) => Kind::Dir,
        EventKind::Create(CreateKind::File) | EventKind::Remove(RemoveKind::File) => Kind::File,
        _ => Kind::Unknown,
    };
    event
        .paths
        .iter()
        .filter(|path| {
            let kind = match kind {
                Kind::Unknown if moved_or_removed && was_dir(path) => Kind::Dir,
                kind => kind,
            };
            rules.counts(path, kind)
        })
        .cloned()
        .collect()
}
