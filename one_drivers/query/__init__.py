"""The EC2 Query wire protocol from botocore's pinned model: parse, render, signatures, errors, ids.

Flow in econe: `signing.access_key_of` -> secret lookup -> `signing.verify_signature`; `model.operation_model`
(InvalidAction) -> `parse.parse_request` (MissingParameter / InvalidParameterValue) -> handler ->
`render.render_response`, or `render.render_error` for any `errors.Ec2Error`. `ids` maps i-/ami-/vol-... ids.
"""
