"""The pure domain: catalog, money, periods, tax, pricing and subscription rules.

Nothing here touches AWS, HTTP or the wall clock (a test enforces the imports).
"""
