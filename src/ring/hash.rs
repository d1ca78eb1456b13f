//! `hash_path`: the MD5 of prefix + `/a[/c[/o]]` + suffix, and name → partition.
