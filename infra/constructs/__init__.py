"""One construct per concern; ``infra.deploy_trigger.DeployTrigger`` composes them."""
