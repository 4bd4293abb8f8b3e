"""The worked example case (package data), imported by `verify demo` from any directory.

`belgorod-legion-video.toml` here is a copy of the repository's
`cases/belgorod-legion-video.toml`, which stays the one to edit; a test keeps them identical.
"""
