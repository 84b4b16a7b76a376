"""The scale-out drill: a realistic burst of Auto Scaling launches, delivered the way EventBridge and Lambda deliver
them, with faults, against local stand-ins; it ends with a verdict on "exactly one run per instance".

    from drill.scaleout.config import DrillConfig
    from drill.scaleout.run import run_drill

    report = run_drill(DrillConfig(launches=40))
    assert report.verdict.ok, report.verdict.summary

This package module stays empty on purpose: worker processes import ``drill.scaleout.containers`` and must not
load moto, the GitHub double or the report code on the way.
"""
