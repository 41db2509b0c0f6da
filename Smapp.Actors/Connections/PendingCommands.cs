using Smapp.Policy;

namespace Smapp.Actors.Connections;

/// <summary>
/// The commands a connection has sent and not heard back on, by handle id (the id travels to the gateway as the
/// command's correlation and comes back in its result). A struct held in its connection: no table until the first
/// command.
/// </summary>
internal struct PendingCommands
{
    private Dictionary<long, (CommandHandle Handle, int? SubflowId)>? _pending;
    private long _next;

    public readonly int Count => _pending?.Count ?? 0;

    /// <summary>A new handle for a command of <paramref name="kind"/>, remembered until its result.</summary>
    public CommandHandle Add(CommandKind kind, int? subflowId)
    {
        var handle = new CommandHandle(++_next, kind);
        (_pending ??= [])[handle.Id] = (handle, subflowId);
        return handle;
    }

    /// <summary>Takes the command a result answers; false for a result of no command of ours (or answered already).</summary>
    public bool TryComplete(long id, out CommandHandle handle, out int? subflowId)
    {
        if (_pending is null || !_pending.Remove(id, out var p))
        {
            (handle, subflowId) = (default, null);
            return false;
        }

        if (_pending.Count == 0)
        {
            _pending = null;
        }

        (handle, subflowId) = p;
        return true;
    }

    /// <summary>Drops everything (a restart rebuilds the connection; answers to the old commands are ignored).</summary>
    public void Clear() => _pending = null;
}
