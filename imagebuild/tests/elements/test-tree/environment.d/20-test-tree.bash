export SOLUM_TEST_FROM_ENV=hello-from-env
