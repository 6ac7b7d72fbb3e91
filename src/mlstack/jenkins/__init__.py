"""Trigger a Jenkins job and follow it to its result, with python-jenkins.

This is how "build on push" works without a public webhook: a git hook
(``scripts/git-hooks/post-commit``, installed by ``make jenkins-hook``) or a person runs
``mlstack jenkins build mlstack``, which

1. asks Jenkins for a build (``build_job``; Jenkins answers with a queue item),
2. follows the queue item until an executor takes it and it gets a build number
   (or until it is cancelled),
3. streams the console log (``logText/progressiveText``) until the build finishes,
4. returns the build's result (SUCCESS, UNSTABLE, FAILURE, ABORTED, NOT_BUILT).

- `client`: the python-jenkins wrapper (settings, request timeouts, readable errors, one call
  per Jenkins endpoint);
- `build`: trigger, wait, stream, result, under one deadline;
- `errors` and `results`: what a build can end with, and the exit codes of the command.

Credentials are arguments: the URL of Jenkins, a user and that user's API token. ``from_env``
and the command line read them from ``MLSTACK_JENKINS_URL``, ``MLSTACK_JENKINS_USER`` and
``MLSTACK_JENKINS_TOKEN``. The token is never printed.
"""

DEFAULT_JOB = "mlstack"  # the pipeline job the seed job creates (jenkins/casc.yaml)
