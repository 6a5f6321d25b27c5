def main():
    import sys
    print("greet", sys.prefix.endswith("/v"), __file__.split("/v/")[-1])
