"""oned's driver protocols: line codec, long-running loop, remotes contract, monitord messages."""
