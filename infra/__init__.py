"""The Pulumi program, the stack configuration schema, offline synthesis and the `mlplat` CLI."""
