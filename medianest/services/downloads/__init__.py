"""YouTube (and admin-allowed sites) to Plex: see ``members`` (what a member does), ``runner``
(items running under a lease), ``to_plex`` (scan and collection), ``sync`` (keep a playlist in
sync), ``views`` (what the pages show), ``rules`` and ``files``."""
