"""DynamoDB persistence: pynamodb models and repositories, the only code that knows DynamoDB.

Table schemas live in template.yaml; the models here must match them (a test creates the
tables from the template and exercises every model against them).
"""
