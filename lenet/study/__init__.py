"""The comparison study: what it runs and how its session behaves (no framework import).

* :mod:`.profiles`      quick and full profiles, the per-dataset training configs;
* :mod:`.session`       the bench session: options, datasets, train-or-load, evaluation, records;
* :mod:`.gates`         accuracy regression gates;
* :mod:`.speed_targets` the handcrafted speed targets judged from histories;
* :mod:`.compare`       the noise-aware comparison of two sets of histories;
* :mod:`.sweep`         Study E's MLP sweep;
* :mod:`.graph_modes`   eager against graph: the generated cases, fresh timed callables, break-even;
* :mod:`.summary`       the session's overall-performance table, the report's headline table as text.
"""
