using System.CommandLine;
using Smapp.Host.Commands;

var root = new RootCommand("smapp — a userspace Multipath TCP subflow controller (the SMAPP paper, on Linux's mptcp_pm userspace path manager)")
{
    MonitorCommand.Build(),
    CtlCommand.Build(),
    TrafficCommand.Build(),
    CheckCommand.Build(),
    RunCommand.Build(),
    StatusCommand.Build(),
    ClientCommand.Build(),
    DemoCommand.Build(),
    DelayLineCommand.Build(),
};

return CommonOptions.Invoke(root, args);
