//! Integration tests of gitops-runtime. Tests needing an emulator skip with one line when it is
//! not provided (and fail under `scripts/test`, which provides every one).

mod events;
