"""What the test modules share, importable as ``support`` (tests/conftest.py puts tests/ on ``sys.path``):

- :mod:`support.workflow`: running snakemake on a study folder (``snakemake``, ``planned``, ``write_config``,
  ``env``, ``failed_job_logs``) and the paths it needs (``ROOT``, ``BIN``);
- :mod:`support.studies`: the micro study (``MICRO``, ``EXTRA_ARCH``) and building or copying whole studies
  or their datasets (``build_study``, ``copy_study``, ``dataset_targets``; the session's builds are the
  fixtures ``micro_data`` and ``finished`` of tests/conftest.py);
- :mod:`support.report`: the Snakemake report opened in headless Chromium (``rendered_captions``,
  ``report_files``);
- :mod:`support.fakes`: tiny copies of the real datasets in their on-disk formats.

None of these modules imports torch: the fast tier (``make test-fast``) imports them too.
"""
