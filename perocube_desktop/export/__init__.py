"""Exports of measured data to other systems (NOMAD, ``docs/nomad.md``). Built on the report
(``stats.report``): the figures of merit and the ISOS checklist are the report's, never recomputed here.
No Qt."""
