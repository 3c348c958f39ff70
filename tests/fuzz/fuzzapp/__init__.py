"""The state model and the step functions of the fuzzed workflows.

Every step and compensation of a generated workflow runs the same two functions; what each one
does (raise how often, return what, change which fields in place) is read from the plan the
test put into the state's ``plan`` field, so a child process and a recovering process behave
exactly like the process that started the workflow.
"""
