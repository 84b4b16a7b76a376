"""``deploy-trigger``: the operator's command line for the deploy-trigger service.

It reads the same configuration as the dispatcher Lambda (its environment variables), lets flags or a
CloudFormation stack's outputs fill it in, and talks to the same ledger, queues and GitHub repository, so what it
shows and checks is what the deployed function sees. ``main.main`` is the console script.
"""
