//! Surge protocol primitives.
