"""The econe-* client tools: upstream's command names and options, built on boto3 (any EC2 endpoint).

`connection` holds the one shared option set (-K/-S/-U, EC2_* variables) and the error boundary,
`table` the readable output; one module per resource family defines the commands (console scripts).
"""
