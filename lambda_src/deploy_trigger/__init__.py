"""deploy-trigger: exactly one GitHub Actions deployment per EC2 instance an Auto Scaling group launches."""
