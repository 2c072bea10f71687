"""ml-platform's policy packs and the offline runner that evaluates them.

    policy/rule.py            the shape of every rule (ids, severity, compliance mapping, config, waivers)
    policy/props.py           reading resource inputs in engine form (tags, pod specs, IAM documents)
    policy/waivers.py         the waiver file: rule id, resource pattern, reason, expiry
    policy/security/          CrossGuard pack: AWS, GCP and Kubernetes security rules
    policy/responsible_ai/    CrossGuard pack: governance rules for models, training jobs and data stores
    policy/runner.py          `mlplat check`: the packs through pulumi_policy's analyzer, offline
    policy/report.py          table, JSON and SARIF 2.1.0 reports

The rule modules import only the standard library, `pulumi_policy` and `pyyaml`, so a pack runs in
the small virtualenv the Pulumi CLI builds from its requirements.txt.
"""
