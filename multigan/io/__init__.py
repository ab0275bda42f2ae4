"""Writers and readers for every output kind multigan produces (each imported on first use).

``multigan.io.midi``, ``.mesh``, ``.video``, ``.audio``, ``.image``: see each module;
``.patterns`` writes deterministic samples of each kind (``multigan demo --patterns``);
``.utils`` holds the input checks and atomic writes they share.
"""
