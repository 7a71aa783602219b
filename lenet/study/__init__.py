"""The comparison study: what it runs and how its session behaves (no framework import).

* :mod:`.profiles`      the profiles (quick, full, compression, sweep, study-e, speed): what each runs and for how long;
* :mod:`.configs`       the named training configs per dataset (default, reference, study-e);
* :mod:`.session`       the bench session: options, datasets, train-or-load, evaluation, records;
* :mod:`.progress`      the session's progress line, its ETA from the last run's plan, wall time per part;
* :mod:`.gates`         accuracy regression gates;
* :mod:`.speed_targets` the handcrafted speed targets judged from histories;
* :mod:`.compare`       the noise-aware comparison of two sets of histories;
* :mod:`.shards`        a bench session as one shard of a run (pytest-split): its run id, durations beside histories;
* :mod:`.timeline`      each benchmark over many runs, change points (Apache Otava) confirmed by the bootstrap;
* :mod:`.bisect`        the first commit that regressed, by ``git bisect run`` in a temporary worktree;
* :mod:`.sweep`         Study E's MLP sweep;
* :mod:`.graph_modes`   eager against graph: the generated cases, fresh timed callables, break-even;
* :mod:`.summary`       the session's overall-performance table, the report's headline table as text.
"""
