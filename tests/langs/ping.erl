%% Processes on the BEAM's schedulers passing messages, a timer, a port to a
%% program, and the file module: what an erl -noshell run leans on.
-module(ping).
-export([main/0]).

main() ->
    Parent = self(),
    Pids = [spawn(fun() -> Parent ! {self(), lists:sum(lists:seq(1, N * 1000))} end)
            || N <- lists:seq(1, 8)],
    Sums = [receive {P, S} -> S end || P <- Pids],
    io:format("sums ~p~n", [Sums]),
    timer:sleep(20),
    Port = open_port({spawn, "echo from a port"}, [exit_status]),
    receive {Port, {data, D}} -> io:format("port ~s", [D]) end,
    receive {Port, {exit_status, E}} -> io:format("status ~p~n", [E]) end,
    ok = file:write_file("erl.txt", <<"written by the BEAM\n">>),
    {ok, Bin} = file:read_file("erl.txt"),
    io:format("file ~s", [Bin]),
    io:format("schedulers ~p~n", [erlang:system_info(schedulers) > 0]).
