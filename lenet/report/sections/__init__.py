"""The report's sections, one module each; :mod:`.core` holds what they share.

A section is declared in :data:`lenet.schema.GROUPS` (or by :func:`lenet.schema.register`) with its builder as
``"lenet.report.sections.<module>:<function>"``; the builder takes the records of the section's groups and a
:class:`~.core.Context` and returns a :class:`~.core.Section`.  The overall table, the speed targets, the
roofline and the histories are built by :mod:`lenet.report` itself, from every record: they span groups.

* :mod:`.core`: Section, Context, PartRow, the identity and flag columns, row order, the instruction counts;
* :mod:`.overall`, :mod:`.accuracy`, :mod:`.inference`, :mod:`.training`, :mod:`.scenarios`, :mod:`.memory`,
  :mod:`.flops`, :mod:`.graph`, :mod:`.compression`, :mod:`.mlp_sweep`, :mod:`.tuned_modes`,
  :mod:`.speed_ratios`: one section each;
* :mod:`.speed_targets`, :mod:`.roofline`: the judgements over every timed group;
* :mod:`.histories`: where the figures come from (the files read, the wall time per part).
"""
