from agentledger.cli import main

if __name__ == "__main__":  # not again in a child process multiprocessing starts
    main()
