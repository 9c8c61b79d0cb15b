"""Measurement of models: FLOP counting (:mod:`.flops`, behind
``tools/analysis_tools/get_flops.py``) and timing (:mod:`.benchmark`, behind
``tools/analysis_tools/benchmark.py``)."""
