"""The EC2 Query wire protocol from botocore's model: parse, render, signatures, errors, ids."""
