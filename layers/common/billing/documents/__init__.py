"""PDF documents (SPEC §8): invoices and bank-transfer payment orders, made with fpdf2.

`model` holds what a document says as plain values; the renderers import fpdf lazily, so
code that only builds or stores documents never pays for it at cold start.
"""
