"""Files: the cache root, atomic writes, canonical weight files, the model cache, safe reads, memory budgets, histories.

* :mod:`.paths`         the one cache root (``$LENET_CACHE``) and :class:`~.paths.CacheWarning`;
* :mod:`.atomic`        writes that a crash or a full disk leaves whole or absent;
* :mod:`.weights`       canonical weights and their spec in one ``.npz``, trusted only after every check (and its
                        content digest);
* :mod:`.model_cache`   train once, then load (the bench fixtures' cache; one lock per entry across sessions);
* :mod:`.writable`      refuse an output that cannot be written (read-only cache or storage) before any work;
* :mod:`.regular_file`  read a user-named file only if it is a regular file;
* :mod:`.memory_budget` refuse an allocation that cannot fit, before making it;
* :mod:`.history`       pytest-benchmark histories read and checked field by field (:mod:`.history_checks`),
                        for the report, the speed targets and the comparison alike.
* :mod:`.records`       runs flattened into records (typed entries with their run and machine label), newest run
                        winning per label: what the report and the bench's summary read.
"""
