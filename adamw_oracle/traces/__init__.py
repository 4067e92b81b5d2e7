"""Golden traces: certified reference runs committed in ``traces/``, and the seeds' errata.

* :func:`compare_all` -- regenerate every trace in memory and list the first difference of each file
  that differs from the committed one (an empty list: everything matches byte for byte).
* :func:`write_all` -- regenerate and atomically replace the files that changed.
* :func:`default_traces_dir` -- where the committed traces live.
* :func:`certify_trace`, :func:`trace_document`, :func:`trace_markdown` -- one trace at a time.
"""
from adamw_oracle.traces.catalogue import TRACE_DIGITS, LabelledRun, TraceSpec, catalogue
from adamw_oracle.traces.compare import TraceDifference
from adamw_oracle.traces.generate import GeneratedTrace, certify_trace, trace_document
from adamw_oracle.traces.markdown import trace_markdown
from adamw_oracle.traces.store import compare_all, default_traces_dir, golden_files, write_all

__all__ = [
    "GeneratedTrace", "LabelledRun", "TRACE_DIGITS", "TraceDifference", "TraceSpec", "catalogue", "certify_trace",
    "compare_all", "default_traces_dir", "golden_files", "trace_document", "trace_markdown", "write_all",
]
